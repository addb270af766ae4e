"""The authors' own PyTorch models (gushan/ABN, VITA-Group/BNN_NoBN), imported from a
local checkout at run time and never copied here: the reference side of the golden
fixtures (`tests/reference/make_fixtures.py`) and of the report's side-by-side
sections.

`torch_models`, `driver` and `torch_worker` need `torch` and run only in the torch
interpreter (`--torch-python`, a subprocess of the report); `section` (the report's
section `authors`), `report` (its markdown), `cost` (section `authors_cost`) and
`zoo_worker` import no torch."""
