"""optical: does optimal-transport distillation shrink the language gap in multilingual image-text retrieval?"""

__version__ = "0.1.0"
