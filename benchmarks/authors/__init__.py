"""The authors' own PyTorch models (gushan/ABN, VITA-Group/BNN_NoBN), imported from a
local checkout at run time and never copied here: the reference side of the golden
fixtures (`tests/reference/make_fixtures.py`) and of the report's side-by-side
sections. Needs `torch`; nothing else in `benchmarks` imports this package."""
