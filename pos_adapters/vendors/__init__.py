"""One module per POS vendor: its adapter class declares its name, its routes and its protocol
(``pos_adapters.base.PosAdapter``). The registry finds them here; nothing else names a vendor."""
