"""The console's pages, one module per area: sign-in, templates, grids, plans, results."""
