from .device import DeviceInfo, resolve_device
from .train import RunOutput, TrainSettings, train_and_evaluate

__all__ = ["DeviceInfo", "RunOutput", "TrainSettings", "resolve_device", "train_and_evaluate"]
