"""The three KinD training stages: data, batch transform, loss, schedule and samples of each."""

import dataclasses
import os

import numpy as np
import tensorflow as tf

from kind_tf2 import checkpoints, errors, image_io, losses, models
from kind_tf2.data import decomposed, lol
from kind_tf2.data.patches import stack_padded
from kind_tf2.registry import Registry


@dataclasses.dataclass
class StageData:
    """Full training images of a stage (patches are cut on the fly) and what its samples show."""

    arrays: dict  # {key: [N, H, W, C]} padded to the largest image: channel slices of one stack (uint8 or float32)
    sizes: np.ndarray  # [N, 2] true (H, W) of each image
    names: list  # file name of each training image
    eval_items: list  # stage-specific tuples for the sample images
    scoring: list = None  # ScoreItems of a scoring split, with `prepare(..., scoring="eval" or "validation")`
    scales: dict = None  # {key: [N, 2] (lo, range)} for 8-bit arrays (see `PatchSampler`)


@dataclasses.dataclass
class ScoreItem:
    """One eval image of a stage with its target (for the loss laboratory's scores)."""

    name: str
    inputs: tuple  # the network's inputs, each `[H, W, C]` (see `Stage.predict`)
    target: np.ndarray  # `[H, W, C]` in [0, 1]: R_high ** 1.2 or I_high
    low_path: str  # the low-light image file
    high_path: str  # its ground truth file


def _load_frozen_decom(path, log):
    if not path:
        raise errors.ConfigError("decom_checkpoint is required: a stage-1 output folder or an original TF1 checkpoint",
                                 fields=("decom_checkpoint",))
    net = models.build_network(models.DECOM_SCOPE)
    log(f"frozen DecomNet (inference mode) from {checkpoints.load_network_weights(net, path)}")
    return net


def _decompose_all(decom, images, log, what, keep_r=True, count=None):
    """DecomNet (inference mode) on each full image; returns lists of R `[H, W, 3]` and I `[H, W, 1]`.

    images: a list, or an iterator of `count` images (e.g. `lol.iter_pair_images`, decoded as
    they are taken, so that the inputs are not all in memory while the outputs grow: the peak of
    a stage's data preparation). keep_r=False: R is not kept (its list holds None), as the
    illumination stage needs only I.
    """
    fn = tf.function(lambda x: decom(x, training=False), input_signature=[tf.TensorSpec([None, None, None, 3])],
                     autograph=False)
    count = len(images) if count is None else count
    source = iter(images)
    rs, is_ = [], []
    for k in range(count):
        r, i = fn(next(source)[None])
        rs.append(r[0].numpy() if keep_r else None)
        is_.append(i[0].numpy())
        del r, i
        if (k + 1) % 50 == 0 or k + 1 == count:
            log(f"decomposed {k + 1}/{count} {what} images")
    return rs, is_


def _decompose_training_pairs(data_dir, decom_checkpoint, log, keep_r=(True, True), cache_dir=None):
    """Frozen DecomNet on every full our485 pair: (decom, pairs, (R_low, I_low), (R_high, I_high)).

    keep_r: whether R_low and R_high are kept (else lists of None). The images are decoded as
    they are decomposed, not loaded all at once. cache_dir: reuse (and store) the outputs in a DecompositionCache there,
    keyed by the DecomNet weights, the image bytes and the runtime; None: always compute.
    """
    decom = _load_frozen_decom(decom_checkpoint, log)
    pairs = lol.pair_files(os.path.join(data_dir, "our485"))
    wanted = [p for p, keep in zip(decomposed.PARTS, (keep_r[0], True, keep_r[1], True)) if keep]
    cache, found = None, {}
    if cache_dir:
        runtime = (tf.__version__, os.environ.get("TF_ENABLE_ONEDNN_OPTS"), bool(tf.config.list_physical_devices("GPU")))
        key = decomposed.cache_key(checkpoints.network_tensors(decom), pairs, runtime)
        cache = decomposed.DecompositionCache(cache_dir, key, log)
        found = cache.load(wanted)
    if all(p in found for p in wanted):
        log(f"decomposed {len(pairs)} low and high images: read from the cache {cache.folder} "
            f"(decom_cache=None recomputes)")
        none = [None] * len(pairs)
        return decom, pairs, (found.get("r_low", none), found["i_low"]), (found.get("r_high", none), found["i_high"])
    # Decoded one at a time as DecomNet takes them, lows then highs: never the whole set in memory.
    images = lol.iter_pair_images(pairs)
    low = _decompose_all(decom, images, log, "low", keep_r[0], count=len(pairs))
    high = _decompose_all(decom, images, log, "high", keep_r[1], count=len(pairs))
    images.close()
    if cache is not None:
        computed = dict(zip(decomposed.PARTS, (*low, *high)))
        cache.save({p: computed[p] for p in wanted})
    return decom, pairs, low, high


# What a stage's eval images are scored on (the loss laboratory): its own eval split (the original's held-out
# range, and eval15 for restoration), or our485's validation split, on which objectives are chosen.
SCORING = ("eval", "validation")


def _scoring(value):
    """`prepare`'s `scoring`: None / False (none), True or "eval", or "validation"; ConfigError otherwise."""
    if value is True:
        return "eval"
    if value in (None, False) or value in SCORING:
        return value or None
    raise errors.ConfigError(f"scoring={value}: expected one of {', '.join(SCORING)}", fields=("scoring",))


class Stage:
    """A stage definition; the engine does everything else the same way for all three."""

    name = None
    scope = None
    defaults = {}
    num_modes = 8
    reshuffle = True
    needs_decom = False
    default_loss = None  # the original objective's spec (losses.parse_spec)
    total_name = None  # the original's name of the total loss
    channels = 3  # channels of the network output the objective compares

    def prepare(self, data_dir, decom_checkpoint, log, scoring=None, decom_cache=None):
        """StageData of `data_dir`; with `scoring`, also the ScoreItems of a split (`SCORING`): "eval", the
        stage's own eval split, or "validation", our485's validation split (`lol.VALIDATION_SPLIT`)."""
        raise NotImplementedError

    def predict(self, model, inputs):
        """The network's output `[1, H, W, C]` for a ScoreItem's inputs (inference mode)."""
        raise NotImplementedError

    def transform(self, batch):
        """Batch of raw patches -> model inputs; runs inside tf.data."""
        return batch

    def objective(self, spec=None, patch_size=None, vgg_weights=None):
        """The training objective for a `loss` spec (None: the original's); raises SpecError."""
        return losses.Objective(spec or self.default_loss, self.total_name, self.channels, patch_size, vgg_weights)

    def loss(self, model, batch, objective):
        """`(total, {component: scalar})` of `objective` on one (per-replica) batch."""
        raise NotImplementedError

    def learning_rate(self, epoch, base):
        return base

    def write_samples(self, model, data, sample_dir, epoch, seed):
        """Write this epoch's sample PNGs; returns `{tag: uint8 pixels}` (TensorBoard shows them too)."""
        raise NotImplementedError


class Decomposition(Stage):
    """Stage 1 (`decomposition_net_train.py`): DecomNet on low/high pairs, all of our485."""

    name = "decomposition"
    scope = models.DECOM_SCOPE
    defaults = dict(batch_size=10, patch_size=48, epochs=2000, learning_rate=1e-4, eval_every=200)
    total_name = "loss_Decom"

    def objective(self, spec=None, patch_size=None, vgg_weights=None):
        # Only re-weightings of the six terms: they act on R and I of two images, not on pred/target.
        return losses.DecompositionObjective(spec)

    def prepare(self, data_dir, decom_checkpoint, log, scoring=False, decom_cache=None):
        pairs = lol.pair_files(os.path.join(data_dir, "our485"))
        arrays, sizes, scales = lol.load_pair_stack(pairs, log)
        eval_items = []
        eval_dir = os.path.join(data_dir, "eval15")
        if os.path.isdir(eval_dir):
            eval_items = list(zip(*lol.load_pairs(lol.pair_files(eval_dir))))
        else:
            log(f"{eval_dir} does not exist: no sample images will be written")
        return StageData(arrays, sizes, [p[0] for p in pairs], eval_items, scales=scales)

    def transform(self, batch):
        return {"low": batch["low"], "high": batch["high"]}

    def loss(self, model, batch, objective):
        r_low, i_low = model(batch["low"], training=True)
        r_high, i_high = model(batch["high"], training=True)
        return objective(batch["low"], batch["high"], r_low, i_low, r_high, i_high)

    def write_samples(self, model, data, sample_dir, epoch, seed):
        # As the original: R | I (repeated to 3 channels) of each eval15 low and high image.
        shown = {}
        for idx, (low, high) in enumerate(data.eval_items):
            for tag, img in (("low", low), ("high", high)):
                r, i = model(img[None], training=False)
                shown[f"{tag}_{idx + 1}"] = image_io.save_image(
                    os.path.join(sample_dir, f"{tag}_{idx + 1}_{epoch}.png"), r, i)
        return shown


class Illumination(Stage):
    """Stage 2 (`adjustment_net_train.py`): Illumination_adjust_net on DecomNet illuminations."""

    name = "illumination"
    scope = models.ILLUMINATION_SCOPE
    defaults = dict(batch_size=10, patch_size=48, epochs=2000, learning_rate=1e-4, eval_every=200)
    num_modes = 7  # the original draws np.random.randint(0, 7): mode 7 never occurs
    default_loss, total_name, channels = losses.ILLUMINATION_SPEC, "loss_adjust", 1
    reshuffle = False  # the original cycles through the images without reshuffling
    needs_decom = True

    def prepare(self, data_dir, decom_checkpoint, log, scoring=None, decom_cache=None):
        # Only the illuminations: the original keeps no R in this stage either.
        _, pairs, (_, i_low), (_, i_high) = _decompose_training_pairs(
            data_dir, decom_checkpoint, log, (False, False), decom_cache)
        train = lol.original_split(len(pairs), 0, 450)
        evals = lol.original_split(len(pairs), 451, 480)
        arrays, sizes = stack_padded({"low_i": [i_low[k] for k in train], "high_i": [i_high[k] for k in train]})
        log(f"illumination split: train {len(train)} images {train[0]}..{train[-1]}, eval {len(evals)}")
        data = StageData(arrays, sizes, [pairs[k][0] for k in train], [i_low[k] for k in evals][:10])
        if scoring:
            scored = lol.validation_split(len(pairs)) if _scoring(scoring) == "validation" else evals
            data.scoring = [ScoreItem(pairs[k][0], (i_low[k], i_high[k]), i_high[k], pairs[k][1], pairs[k][2])
                            for k in scored]
        return data

    @staticmethod
    def brightening_ratio(low, high):
        """The ratio the network is given to turn `low` into `high`: 1 / mean(low / (high + 1e-4)) + 1e-4.

        low, high: `[N, H, W, 1]`; returns `[N, 1, 1, 1]`. (The darkening direction uses the plain mean.)
        """
        return 1.0 / tf.reduce_mean(low / (high + 0.0001), axis=[1, 2, 3], keepdims=True) + 0.0001

    def transform(self, batch):
        low, high = batch["low_i"], batch["high_i"]
        # Per-patch ratio mean(low / (high + 1e-4)) (rotation-invariant, so after augmentation too).
        ratio = tf.reduce_mean(low / (high + 0.0001), axis=[1, 2, 3], keepdims=True)
        keep = tf.reshape(batch["coin"] >= 0.5, [-1, 1, 1, 1])  # np.random.randint(0, 2) == 1
        ones = tf.ones_like(low)
        return {
            "input_i": tf.where(keep, low, high),
            "ratio": tf.where(keep, ones * (1.0 / ratio + 0.0001), ones * ratio),
            "target_i": tf.where(keep, high, low),
        }

    def predict(self, model, inputs):
        low, high = (tf.convert_to_tensor(x[None]) for x in inputs)
        return model(low, tf.ones_like(low) * self.brightening_ratio(low, high), training=False)

    def loss(self, model, batch, objective):
        out = model(batch["input_i"], batch["ratio"], training=True)
        # `low` of the loss terms is the network's input illumination (I_high in the half of the
        # batches where the original swaps the pair to learn darkening).
        return objective(out, batch["target_i"], batch["input_i"])

    def write_samples(self, model, data, sample_dir, epoch, seed):
        # As the original: input I | adjusted I for a random ratio in [0, 2) (seeded here).
        rng = np.random.default_rng([seed, epoch])
        shown = {}
        for idx, i_low in enumerate(data.eval_items):
            ratio = float(rng.random() * 2)
            out = model(i_low[None], np.full((1,) + i_low.shape, ratio, np.float32), training=False)
            shown[f"h_eval_{idx + 1}"] = image_io.save_image(
                os.path.join(sample_dir, f"h_eval_{epoch}_{idx + 1}_{ratio:5f}.png"), i_low, out)
        return shown


class Restoration(Stage):
    """Stage 3 (`reflectance_restoration_net_train.py`): Restoration_net towards R_high ** 1.2."""

    name = "restoration"
    scope = models.RESTORATION_SCOPE
    defaults = dict(batch_size=4, patch_size=384, epochs=1000, learning_rate=1e-4, eval_every=50)
    default_loss, total_name, channels = losses.RESTORATION_SPEC, "loss_restoration", 3
    needs_decom = True

    def prepare(self, data_dir, decom_checkpoint, log, scoring=None, decom_cache=None):
        scoring = _scoring(scoring)
        decom, pairs, (r_low, i_low), (r_high, _) = _decompose_training_pairs(
            data_dir, decom_checkpoint, log, (True, True), decom_cache)
        # The original raises R_high to 1.2 "to improve the contrast" of the target.
        r_high = [np.power(r, np.float32(1.2)) for r in r_high]
        train = lol.original_split(len(pairs), 0, 466)
        held_out = lol.original_split(len(pairs), 467, 480)
        evals = [(r_low[k], i_low[k]) for k in held_out]
        scored = lol.validation_split(len(pairs)) if scoring == "validation" else held_out
        score = [ScoreItem(pairs[k][0], (r_low[k], i_low[k]), r_high[k], pairs[k][1], pairs[k][2]) for k in scored]
        eval_dir = os.path.join(data_dir, "eval15")
        if os.path.isdir(eval_dir):
            eval_pairs = lol.pair_files(eval_dir)
            eval_lows, eval_highs = lol.load_pairs(eval_pairs)
            decomposed = list(zip(*_decompose_all(decom, eval_lows, log, "eval15")))
            evals += decomposed
            if scoring == "eval":  # the targets of eval15 cost one more DecomNet pass per image
                eval_r_high, _ = _decompose_all(decom, eval_highs, log, "eval15 high")
                score += [ScoreItem(p[0], ri, np.power(rh, np.float32(1.2)), p[1], p[2])
                          for p, ri, rh in zip(eval_pairs, decomposed, eval_r_high)]
        arrays, sizes = stack_padded({key: [images[k] for k in train]
                                      for key, images in (("low_r", r_low), ("low_i", i_low), ("high_r", r_high))})
        log(f"restoration split: train {len(train)} images, eval {len(evals)} (incl. eval15)")
        return StageData(arrays, sizes, [pairs[k][0] for k in train], evals, score if scoring else None)

    def predict(self, model, inputs):
        r, i = inputs
        return model(r[None], i[None], training=False)

    def transform(self, batch):
        return {k: batch[k] for k in ("low_r", "low_i", "high_r")}

    def loss(self, model, batch, objective):
        out = model(batch["low_r"], batch["low_i"], training=True)
        return objective(out, batch["high_r"], batch["low_r"])

    def learning_rate(self, epoch, base):
        # The original's schedule on the 0-based epoch.
        if epoch <= 800:
            return base
        if epoch <= 1250:
            return base / 2
        if epoch <= 1500:
            return base / 4
        return base / 10

    def write_samples(self, model, data, sample_dir, epoch, seed):
        shown = {}
        for idx, (r, i) in enumerate(data.eval_items):
            out = model(r[None], i[None], training=False)
            shown[f"eval_{idx + 1}"] = image_io.save_image(
                os.path.join(sample_dir, f"eval_{idx + 1}_{epoch}.png"), r, out)
        return shown


STAGES = Registry("training stage", field="stage")
for _cls in (Decomposition, Illumination, Restoration):
    STAGES.add(_cls.name, _cls)
