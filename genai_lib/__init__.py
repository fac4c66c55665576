"""genai_lib: the small library behind the course *Generative AI: From Data to Generated Content*.

The modules follow the AIGC pipeline: ``data`` (collect and process), ``train`` (one
training loop), ``models`` (one family per module), ``metrics`` (evaluate), with
``runtime`` (device, precision, profile), ``plot``, ``check`` (exercise self-checks) and
``utils``. Importing the package is cheap: nothing heavy runs at import.
"""
__version__ = "0.1.0"
