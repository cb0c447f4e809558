"""Built-in judges. Importing this package registers them; none imports a heavy library here."""

from judges.builtin import clip, hpsv2, psnr, scores, vlm  # noqa: F401
