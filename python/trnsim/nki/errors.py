"""Located errors of the front end: FILE:LINE of the innermost kernel frame, and the construct."""
import os
import sys

#: The kernel file being recorded (set by the driver), then the file of a kernel it launches
#: (`kernel[2](...)` in an entry function); frames in them are the kernel's.
KERNEL_FILE = [None]


class NkiError(Exception):
    """A kernel fault: exit 2 with `FILE:LINE: CONSTRUCT: MESSAGE`."""

    def __init__(self, construct, message, where=None):
        Exception.__init__(self, message)
        self.construct = construct
        self.message = message
        self.where = where or kernel_location()

    def render(self):
        loc = "%s:%d: " % self.where if self.where else ""
        return "%s%s: %s" % (loc, self.construct, self.message)


BASENAME = {}


def kernel_location(depth=1):
    """(basename, line) of the innermost frame executing a kernel file, or None."""
    f = sys._getframe(depth)
    while f is not None:
        path = f.f_code.co_filename
        if path in KERNEL_FILE:
            base = BASENAME.get(path)
            if base is None:
                base = BASENAME[path] = os.path.basename(path)
            return (base, f.f_lineno)
        f = f.f_back
    return None


def fail(construct, message):
    """Raise a located kernel fault."""
    raise NkiError(construct, message, kernel_location(2))
