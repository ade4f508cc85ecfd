"""Writing files so that no reader ever sees a partial one: a temporary name in the same folder, then a rename."""

import os
import tempfile


def atomic_write(path, write):
    """Call `write(tmp)` on a temporary name in `path`'s folder, then rename it to `path`.

    A reader never sees a partial file under `path`; on any error the temporary file is removed.
    """
    fd, tmp = tempfile.mkstemp(prefix=".tmp_", suffix=os.path.splitext(path)[1],
                               dir=os.path.dirname(os.path.abspath(path)))
    os.close(fd)
    try:
        write(tmp)
        # mkstemp creates 0600; a result file gets the mode any new file gets (0666 minus umask).
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def atomic_write_text(path, text):
    """Write `text` to `path` through `atomic_write` (no partial file is ever seen)."""

    def write(tmp):
        with open(tmp, "w", newline="") as f:
            f.write(text)

    atomic_write(path, write)
