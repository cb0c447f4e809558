"""Built-in judges. Importing this package registers them; none imports a heavy library here."""

from judges.builtin import gpt, psnr  # noqa: F401
