"""Real Keras application models (``keras.applications``), small and randomised, ready to convert.

Each function builds one architecture with ``weights=None`` (nothing is
downloaded) at a small input size, without the classifier (``include_top=False,
pooling="avg"``), and then randomises every weight, BatchNorm statistics
included, so that a conversion that drops a bias or mixes up a statistic shows.

    twinnet convert examples/keras_apps.py:vgg16 --to torch -o out/

>>> sorted(APPS)[:3]
['densenet121', 'efficientnet_b0', 'inception_v3']
"""

# name -> (keras.applications function name, smallest input side it accepts)
APPS = {
    "vgg16": ("VGG16", 32),
    "vgg19": ("VGG19", 32),
    "inception_v3": ("InceptionV3", 75),
    "resnet50": ("ResNet50", 32),
    "resnet50_v2": ("ResNet50V2", 32),
    "densenet121": ("DenseNet121", 32),
    "mobilenet": ("MobileNet", 32),
    "mobilenet_v2": ("MobileNetV2", 32),
    "xception": ("Xception", 71),
    "efficientnet_b0": ("EfficientNetB0", 32),
    "nasnet_mobile": ("NASNetMobile", 32),
}


def build(name: str, seed: int = 0):
    """The Keras application ``name`` (a key of :data:`APPS`), randomised from ``seed``."""
    import keras

    fn, side = APPS[name]
    keras.utils.set_random_seed(seed)
    km = getattr(keras.applications, fn)(weights=None, include_top=False, pooling="avg", input_shape=(side, side, 3))
    return randomize(km, seed)


def randomize(km, seed: int = 0):
    """Give every non-kernel weight a random value and calibrate the BatchNorm statistics, so activations
    stay O(1) through the whole network (:func:`twinnet.exporters.randomize.randomize_keras`)."""
    from twinnet.exporters.randomize import randomize_keras

    return randomize_keras(km, seed)


# One function per app, so each is a FILE.py:FUNCTION for `twinnet convert`.
def vgg16():
    return build("vgg16")


def vgg19():
    return build("vgg19")


def inception_v3():
    return build("inception_v3")


def resnet50():
    return build("resnet50")


def resnet50_v2():
    return build("resnet50_v2")


def densenet121():
    return build("densenet121")


def mobilenet():
    return build("mobilenet")


def mobilenet_v2():
    return build("mobilenet_v2")


def xception():
    return build("xception")


def efficientnet_b0():
    return build("efficientnet_b0")


def nasnet_mobile():
    return build("nasnet_mobile")
