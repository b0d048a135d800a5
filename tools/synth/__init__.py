"""segstream procedural street-scene generator (Cityscapes 19 classes)."""
from .scene import (CLASS_NAMES, LABEL_IDS, render_clip, render_scene,  # noqa: F401
                    train_to_label_ids)
