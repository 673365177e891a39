"""Draw resources/sample.jpg: a synthetic beach scene used by the demo and screenshots."""

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

W, H = 1200, 800
y = np.linspace(0, 1, H)[:, None, None]
sky = (1 - y) * np.array([70, 130, 210]) + y * np.array([190, 215, 240])
img = np.broadcast_to(sky, (H, W, 3)).copy()
horizon, shore = int(H * 0.55), int(H * 0.72)
sea_y = np.linspace(0, 1, shore - horizon)[:, None, None]
img[horizon:shore] = (1 - sea_y) * np.array([30, 90, 150]) + sea_y * np.array([60, 150, 170])
sand_y = np.linspace(0, 1, H - shore)[:, None, None]
img[shore:] = (1 - sand_y) * np.array([225, 200, 150]) + sand_y * np.array([200, 170, 120])
rng = np.random.default_rng(7)
img += rng.normal(0, 4, img.shape)
photo = Image.fromarray(img.clip(0, 255).astype("uint8"))
draw = ImageDraw.Draw(photo)
draw.ellipse((820, 120, 940, 240), fill=(255, 240, 200))
for x, s in ((180, 1.0), (330, 0.7), (990, 0.8)):
    draw.ellipse((x, 90 + 40 * s, x + 220 * s, 150 + 40 * s), fill=(245, 245, 250))
draw.polygon([(150, shore + 60), (175, shore - 140), (205, shore + 60)], fill=(90, 60, 40))
draw.ellipse((60, shore - 230, 300, shore - 110), fill=(40, 120, 60))
photo = photo.filter(ImageFilter.GaussianBlur(0.8))
photo.save("resources/sample.jpg", quality=88)
