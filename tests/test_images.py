from __future__ import annotations

import numpy as np

from judges.media.images import data_url, decode_data_url, encode_jpeg, resize_max_side, tile_grid


def test_resize_never_enlarges():
    frame = np.zeros((320, 512, 3), np.uint8)
    assert resize_max_side(frame, 256).shape == (160, 256, 3)
    assert resize_max_side(frame, 1024) is frame


def test_tile_grid_layout():
    frames = [np.full((10, 20, 3), i * 40, np.uint8) for i in range(5)]
    grid = tile_grid(frames, gap=2)
    assert grid.shape == (22, 64, 3)  # 5 frames -> 3 columns x 2 rows
    assert grid[0, 0, 0] == 0 and grid[0, 22, 0] == 40 and grid[12, 0, 0] == 120
    assert grid[12, 44, 0] == 0  # the empty sixth cell stays black


def test_jpeg_roundtrip_keeps_rgb_order():
    frame = np.zeros((16, 16, 3), np.uint8)
    frame[..., 0] = 250  # pure red in RGB
    url = data_url(encode_jpeg(frame, 95))
    assert url.startswith("data:image/jpeg;base64,")
    back = decode_data_url(url)
    assert back.shape == (16, 16, 3)
    assert back[..., 0].mean() > 240 and back[..., 2].mean() < 15
