"""Colour difference: CIEDE2000 between two sRGB images, through CIE L*a*b* (D65, 2-degree observer)."""

import numpy as np

from kind_tf2 import errors

# sRGB (IEC 61966-2-1) linear RGB -> CIE XYZ, D65 white, the matrix scikit-image's rgb2xyz uses.
XYZ_FROM_RGB = np.array([[0.412453, 0.357580, 0.180423],
                         [0.212671, 0.715160, 0.072169],
                         [0.019334, 0.119193, 0.950227]])
# The D65 reference white of the CIE 1931 2-degree observer (X, Y, Z with Y = 1).
D65_WHITE = np.array([0.95047, 1.0, 1.08883])


def srgb_to_lab(img):
    """sRGB -> CIE L*a*b* (D65, 2-degree observer).

    img: uint8 `[..., 3]` (0..255) or float `[..., 3]` in [0, 1]. Returns float64 `[..., 3]`:
    L* in [0, 100], a* and b* roughly in [-128, 127].

        linear = c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
        (X, Y, Z) = M linear / white;  f(t) = t ** (1/3) if t > 0.008856 else 7.787 t + 16/116
        L* = 116 f(Y) - 16;  a* = 500 (f(X) - f(Y));  b* = 200 (f(Y) - f(Z))
    """
    arr = np.asarray(img)
    c = arr.astype(np.float64) / 255.0 if arr.dtype == np.uint8 else arr.astype(np.float64)
    linear = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    xyz = linear @ XYZ_FROM_RGB.T / D65_WHITE
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16.0 / 116.0)
    fx, fy, fz = f[..., 0], f[..., 1], f[..., 2]
    return np.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1)


def delta_e_ciede2000(lab1, lab2, k_l=1.0, k_c=1.0, k_h=1.0):
    """CIEDE2000 colour difference per element of two L*a*b* arrays `[..., 3]` (Sharma, Wu & Dalal 2005).

    With C = sqrt(a^2 + b^2), G = (1 - sqrt(Cm^7 / (Cm^7 + 25^7))) / 2 on the mean chroma Cm,
    a' = (1 + G) a, C', h' = atan2(b, a') in [0, 360):

        dE00 = sqrt((dL' / (kL SL))^2 + (dC' / (kC SC))^2 + (dH' / (kH SH))^2
                    + RT (dC' / (kC SC)) (dH' / (kH SH)))
        dH' = 2 sqrt(C1' C2') sin(dh' / 2),  SL = 1 + 0.015 (L'm - 50)^2 / sqrt(20 + (L'm - 50)^2),
        SC = 1 + 0.045 C'm,  SH = 1 + 0.015 C'm T,  RT = -sin(2 dtheta) Rc,
        T = 1 - 0.17 cos(h'm - 30) + 0.24 cos(2 h'm) + 0.32 cos(3 h'm + 6) - 0.20 cos(4 h'm - 63),
        dtheta = 30 exp(-((h'm - 275) / 25)^2),  Rc = 2 sqrt(C'm^7 / (C'm^7 + 25^7))

    (angles in degrees; h'm the mean hue, taken the short way round, and h1' + h2' where a chroma is
    0). Returns float64 `[...]`, >= 0.
    """
    lab1, lab2 = np.asarray(lab1, np.float64), np.asarray(lab2, np.float64)
    l1, a1, b1 = lab1[..., 0], lab1[..., 1], lab1[..., 2]
    l2, a2, b2 = lab2[..., 0], lab2[..., 1], lab2[..., 2]
    c_mean = 0.5 * (np.hypot(a1, b1) + np.hypot(a2, b2))
    g = 0.5 * (1.0 - np.sqrt(c_mean**7 / (c_mean**7 + 25.0**7)))
    ap1, ap2 = (1.0 + g) * a1, (1.0 + g) * a2
    cp1, cp2 = np.hypot(ap1, b1), np.hypot(ap2, b2)
    hp1, hp2 = np.arctan2(b1, ap1) % (2 * np.pi), np.arctan2(b2, ap2) % (2 * np.pi)

    # Lightness, chroma, hue differences.
    dl = l2 - l1
    dc = cp2 - cp1
    product = cp1 * cp2
    dh = hp2 - hp1
    dh = np.where(dh > np.pi, dh - 2 * np.pi, np.where(dh < -np.pi, dh + 2 * np.pi, dh))
    dh = np.where(product == 0.0, 0.0, dh)  # no hue difference when a colour is achromatic
    dh_big = 2.0 * np.sqrt(product) * np.sin(dh / 2.0)

    # Means: the hue mean goes the short way round the circle; with an achromatic colour it is the sum.
    l_mean = 0.5 * (l1 + l2)
    cp_mean = 0.5 * (cp1 + cp2)
    h_sum = hp1 + hp2
    far = (product != 0.0) & (np.abs(hp1 - hp2) > np.pi)
    h_mean = np.where(far & (h_sum < 2 * np.pi), h_sum + 2 * np.pi, np.where(far, h_sum - 2 * np.pi, h_sum))
    h_mean = np.where(product == 0.0, h_mean, 0.5 * h_mean)

    deg = np.pi / 180.0
    t = (1.0 - 0.17 * np.cos(h_mean - 30 * deg) + 0.24 * np.cos(2 * h_mean)
         + 0.32 * np.cos(3 * h_mean + 6 * deg) - 0.20 * np.cos(4 * h_mean - 63 * deg))
    s_l = 1.0 + 0.015 * (l_mean - 50.0) ** 2 / np.sqrt(20.0 + (l_mean - 50.0) ** 2)
    s_c = 1.0 + 0.045 * cp_mean
    s_h = 1.0 + 0.015 * cp_mean * t
    d_theta = 30 * deg * np.exp(-(((h_mean / deg) - 275.0) / 25.0) ** 2)
    r_c = 2.0 * np.sqrt(cp_mean**7 / (cp_mean**7 + 25.0**7))
    r_t = -np.sin(2.0 * d_theta) * r_c

    lt, ct, ht = dl / (k_l * s_l), dc / (k_c * s_c), dh_big / (k_h * s_h)
    return np.sqrt(np.maximum(lt**2 + ct**2 + ht**2 + r_t * ct * ht, 0.0))


def ciede2000(img, ref):
    """Mean CIEDE2000 over the pixels of two sRGB images (lower is better; 0 for identical images).

    img, ref: uint8 `[H, W, 3]` (0..255), the same shape; each through `srgb_to_lab` (D65), then
    `delta_e_ciede2000` per pixel, averaged. Returns a Python float, typically 0..50.
    """
    a, b = np.asarray(img), np.asarray(ref)
    for name, arr in (("image", a), ("reference", b)):
        if arr.ndim != 3 or arr.shape[2] != 3:
            raise errors.DataError(f"CIEDE2000 needs RGB images [H, W, 3]; the {name} has shape {arr.shape}")
    if a.shape != b.shape:
        raise errors.DataError(f"image sizes differ: {a.shape[:2]} vs {b.shape[:2]}")
    return float(np.mean(delta_e_ciede2000(srgb_to_lab(a), srgb_to_lab(b))))
