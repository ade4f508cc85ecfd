"""Comparison grids of images (input | output | ground truth) and their compact copies for reports."""

from PIL import Image, ImageDraw

from kind_tf2.image_io import save_png


def thumbnail(arr, height):
    """A uint8 `[H, W, 3]` array as a PIL image `height` px tall (aspect kept)."""
    h, w = arr.shape[:2]
    # Nearest for tiny images (a 1x1 input stays one flat colour), bilinear otherwise.
    method = Image.Resampling.NEAREST if h < 16 else Image.Resampling.BILINEAR
    return Image.fromarray(arr).resize((max(1, round(w * height / h)), height), method)


def write_grid(path, tiles, labels=None):
    """A PNG with one row of equally tall thumbnails per image: input | output | ground truth.

    tiles: rows of PIL images (`thumbnail`); labels: optional column titles, drawn in a header row
    above the first row's tiles.
    """
    gap, height = 4, tiles[0][0].height
    head = 18 if labels else 0
    width = max(sum(t.width for t in row) + gap * (len(row) - 1) for row in tiles)
    canvas = Image.new("RGB", (width, head + len(tiles) * height + gap * (len(tiles) - 1)), (255, 255, 255))
    for r, row in enumerate(tiles):
        x = 0
        for tile in row:
            canvas.paste(tile, (x, head + r * (height + gap)))
            x += tile.width + gap
    if labels:
        draw, x = ImageDraw.Draw(canvas), 0
        for tile, label in zip(tiles[0], labels):
            draw.text((x + tile.width / 2, head / 2), label, fill=(0, 0, 0), anchor="mm")
            x += tile.width + gap
    save_png(path, canvas)


def compact_copy(png, path, scale=1.0):
    """A copy of a comparison grid for reports and docs: resized by `scale`, in a 256-colour palette.

    15 real LOL images make a 2.2 MB grid at compress level 1; this copy is 0.3-0.6 MB.
    """
    with Image.open(png) as im:
        small = im.convert("RGB")
    if scale != 1.0:
        small = small.resize((round(small.width * scale), round(small.height * scale)), Image.Resampling.LANCZOS)
    save_png(path, small.convert("P", palette=Image.Palette.ADAPTIVE, colors=256), optimize=True)
