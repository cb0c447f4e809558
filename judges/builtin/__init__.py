"""Built-in judges. Importing this package registers them; none imports a heavy library here."""

from judges.builtin import clip, gpt, hpsv2, psnr, scores  # noqa: F401
