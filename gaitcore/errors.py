"""The project's one family of expected errors: problems the user can fix.

Every class here means "bad input, say so in one line": a script's ``run_script`` prints the
message (which names the file, key or option, and why) and exits with status 2 instead of showing
a traceback. This module imports nothing, so every package (gaitcore, opengait, dlcr, the
preprocessing scripts) can raise these without importing one another.

    UserInputError              a file, folder or option is wrong
    ├── ConfigError             a training / evaluation config (file, key or --set value)
    ├── CheckpointError         a checkpoint or exported model that cannot be used with the config
    ├── ModelLoadError          third-party weights (detector, pose, segmentation) that do not load
    ├── PretreatedFormatError   a file or folder that breaks the pretreated layout
    │   ├── VideoReadError      a video that cannot be opened or decoded
    │   └── PoseFileError       a malformed keypoint file
    └── RecordFileError         a JSONL record file damaged where no killed writer could have

``ConfigError`` and ``PretreatedFormatError`` are also ``ValueError``\\ s, as they were before the
family existed, so ``except ValueError`` in callers keeps working.
"""


class UserInputError(Exception):
    """Bad input the user can fix (the message says which file or option, and why)."""


class ConfigError(UserInputError, ValueError):
    """A configuration problem; the message names the file and the key."""


class CheckpointError(UserInputError):
    """A checkpoint or exported model file that is missing, unreadable or does not fit the model
    the config builds; the message names the file and the mismatch."""


class ModelLoadError(UserInputError):
    """A detector, pose or segmentation model's weights could not be loaded (message says why)."""


class PretreatedFormatError(UserInputError, ValueError):
    """A file or folder does not follow the pretreated contract; the message names it."""


class VideoReadError(PretreatedFormatError):
    """A video cannot be opened or decoded (the message names the file)."""


class PoseFileError(PretreatedFormatError):
    """A keypoint file is malformed (the message names the file and the problem)."""


class RecordFileError(UserInputError):
    """A JSONL record file is damaged where no killed writer could have damaged it."""
