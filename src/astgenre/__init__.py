"""astgenre: fine-tuning the Audio Spectrogram Transformer for music genre classification."""

__version__ = "0.1.0"
