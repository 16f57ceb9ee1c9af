"""taskgate's gateway: the Django + Channels project that pushes job states to clients."""
