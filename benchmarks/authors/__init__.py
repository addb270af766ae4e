"""The authors' own PyTorch models (gushan/ABN, VITA-Group/BNN_NoBN), imported from a
local checkout at run time and never copied here: the reference side of the golden
fixtures (`tests/reference/make_fixtures.py`) and of the report's side-by-side
sections. `torch_models` and `torch_worker` need `torch` and run only in the torch
interpreter (`--torch-python`); `cost` and `zoo_worker` do not import it."""
