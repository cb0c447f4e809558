"""Video files and frames.

Opening and checking videos, keyframe selection by consecutive-frame
pixel difference, frame counts as users write them, frames to JPEGs for VLMs, the PSNR maths, and
browser-playable previews of videos browsers cannot play.
"""

from judges.core.lazy import lazy_face

_EXPORTS = {
    "count_frames": "video",
    "iter_frames": "video",
    "open_video": "video",
    "STRATEGIES": "keyframes",
    "KeyframeSource": "keyframes",
    "extract_keyframes": "keyframes",
    "frame_diffs": "keyframes",
    "select_top_n": "keyframes",
    "uniform_frames": "keyframes",
    "uniform_indices": "keyframes",
    "normalize_frames": "frame_counts",
    "parse_frames": "frame_counts",
    "data_url": "images",
    "decode_data_url": "images",
    "encode_jpeg": "images",
    "resize_max_side": "images",
    "tile_grid": "images",
    "capped_psnr": "psnr_maths",
    "mean_psnr_to_first": "psnr_maths",
    "psnr": "psnr_maths",
    "psnr_cap": "psnr_maths",
    "safesora_psnr": "psnr_maths",
    "BROWSER_CODECS": "previews",
    "VideoInfo": "previews",
    "preview_for": "previews",
    "video_info": "previews",
    "video_psnr_score": "psnr_maths",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_face(__name__, _EXPORTS)
