"""shoplm: search and recommendation for online shops, powered by a fine-tunable language model."""

__version__ = "0.1.0"
