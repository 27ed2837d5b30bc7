from .resnet import AttnBasicBlock, attention_modules, resnet18

__all__ = ["AttnBasicBlock", "attention_modules", "resnet18"]
