"""What both backends share and neither owns: argument checks, the checkpoint format, the fit
driver's bookkeeping. :mod:`vaelearn.numpy` and :mod:`vaelearn.torch` import from here and never
from each other (``tests/test_import_rules.py`` enforces it); nothing here imports a backend."""
