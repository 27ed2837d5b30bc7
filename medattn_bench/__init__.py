"""medattn-bench: does an attention block help a CNN on medical images, and what does it cost?"""

__version__ = "0.1.0"
