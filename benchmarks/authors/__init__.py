"""The authors' own PyTorch models (gushan/ABN, VITA-Group/BNN_NoBN), imported from a
local checkout at run time and never copied here: the reference side of the golden
fixtures (`tests/reference/make_fixtures.py`) and of the report's side-by-side section.

`torch_models` and `driver` need `torch` and run only in the torch interpreter (a
subprocess of the report); `section` (the report's section `authors`) and `report` (its
markdown) import no torch."""
