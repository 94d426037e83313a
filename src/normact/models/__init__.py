"""Model architectures, created by name through a registry."""

from normact.models.lenet import PAPER_INIT, LeNet5, lenet5, paper_init
from normact.models.mlp import MLP, mlp
from normact.models.mobilenet import MobileNetV1, SeparableBlock, conv_mobilenet_v1, mobilenet_v1
from normact.models.registry import create_model, get_model_builder, list_models, register_model
from normact.models.residual import BasicBlock, Bottleneck, PadShortcut
from normact.models.resnet import ResNet, resnet, resnet34, resnet50, resnet101
from normact.models.resnet_cifar import resnet_cifar
from normact.models.serial import SerialCNN, serial_cnn
from normact.models.textrcnn import TextRCNN, textrcnn
from normact.models.transformer import Transformer, transformer
from normact.models.vgg import VGG, vgg, vgg16, vgg16_11, vgg19

__all__ = [
    "MLP",
    "PAPER_INIT",
    "VGG",
    "BasicBlock",
    "Bottleneck",
    "LeNet5",
    "MobileNetV1",
    "PadShortcut",
    "ResNet",
    "SeparableBlock",
    "SerialCNN",
    "TextRCNN",
    "Transformer",
    "conv_mobilenet_v1",
    "create_model",
    "get_model_builder",
    "lenet5",
    "list_models",
    "mlp",
    "mobilenet_v1",
    "paper_init",
    "register_model",
    "resnet",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet_cifar",
    "serial_cnn",
    "textrcnn",
    "transformer",
    "vgg",
    "vgg16",
    "vgg16_11",
    "vgg19",
]
