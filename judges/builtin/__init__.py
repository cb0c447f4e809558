"""Built-in judges. Importing this package registers them; none imports a heavy library here."""

from judges.builtin import clip, hpsv2, psnr, scores, vlm  # noqa: F401
from judges.harm import clip as harm_clip  # noqa: F401
from judges.harm import scores as harm_scores  # noqa: F401
from judges.harm import vlm as harm_vlm  # noqa: F401
