"""larq_nobn.zoo: BinaryNet, ResNet-18 and ReActNet-A in the norm variants
``bn``, ``abn``, ``bf`` and ``none``."""
