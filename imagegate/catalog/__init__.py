"""The model catalog (`imagegate.catalog.models`) and how each model is priced
(`imagegate.catalog.pricing`)."""
