"""A GAN as tutorials write it: ``MyGeneratorCNN`` takes z as (N, nz, 1, 1) and makes 64×64
images; both discriminators end in ``nn.Sigmoid()``, the CNN one returning (N,) and the
MLP one (N, 1) from flat images. Constructor arguments, no globals.
"""

import torch.nn as nn


class MyGeneratorCNN(nn.Module):
    def __init__(self, nz=64, channels=1, width=16):
        super().__init__()
        self.net = nn.Sequential(
            nn.ConvTranspose2d(nz, width * 4, 4, 1, 0),
            nn.BatchNorm2d(width * 4),
            nn.ReLU(),
            nn.ConvTranspose2d(width * 4, width * 2, 4, 2, 1),
            nn.BatchNorm2d(width * 2),
            nn.ReLU(),
            nn.ConvTranspose2d(width * 2, width, 4, 2, 1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.ConvTranspose2d(width, width, 4, 2, 1),
            nn.ReLU(),
            nn.ConvTranspose2d(width, channels, 4, 2, 1),
            nn.Tanh(),
        )

    def forward(self, z):
        return self.net(z)


class MyDiscriminatorCNN(nn.Module):
    def __init__(self, channels=1, width=16):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, width * 2, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width * 2, width * 4, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width * 4, 1, 8, 1, 0),
            nn.Sigmoid(),
        )

    def forward(self, x):
        return self.net(x).squeeze()


class MyDiscriminatorMLP(nn.Module):
    def __init__(self, image_size=64 * 64, hidden=128):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(image_size, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, 1),
            nn.Sigmoid(),
        )

    def forward(self, x):
        return self.net(x)
