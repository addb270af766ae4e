"""The authors' own PyTorch models (gushan/ABN, VITA-Group/BNN_NoBN), imported from a
local checkout at run time and never copied here: the reference side of the golden
fixtures (`tests/reference/make_fixtures.py`) and of the report's side-by-side
sections.

`torch_models`, `driver` and `torch_worker` need `torch` and run only in the torch
interpreter (`--torch-python`, a subprocess of the report); `section` (the report's
section `authors`), `report` (its markdown), `cost` (section `authors_cost`) and
`zoo_worker` import no torch."""

#: The environment of every torch process: OpenMP threads that wait passively. torch's
#: OpenMP threads spin while they wait by default, and on a machine with more busy
#: processes than cores (where the report runs) the spinning threads of one step
#: starve each other: 10-30x slower steps at 2 threads than at 1, measured.
TORCH_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}
