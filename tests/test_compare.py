import numpy as np
from PIL import Image

from mgie_desktop.core.compare import difference_image


def test_difference_is_black_where_untouched_and_bright_where_changed():
    before = Image.new("RGB", (40, 30), (100, 120, 140))
    after = before.copy()
    after.paste((100, 120, 180), (10, 10, 20, 20))
    diff = np.asarray(difference_image(before, after))
    assert diff[:10].max() == 0 and diff[25:].max() == 0
    assert (diff[10:20, 10:20] == 160).all()  # 40 levels x gain 4
