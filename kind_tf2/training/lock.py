"""One training run per checkpoint folder: a lock file holding the owner's PID and host."""

import json
import os
import socket

from kind_tf2 import errors


class FolderLockedError(errors.ResumeError):
    """The folder is in use by a live run; the message names the folder and the process."""


def _alive(pid):
    try:
        os.kill(pid, 0)  # signal 0: existence check only
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


class FolderLock:
    """`<folder>/.lock`, created with O_EXCL so that two runs cannot both take it.

    A lock whose process is dead on this host (a killed run) is taken over with a warning; one
    held on another host cannot be checked and is refused, naming the host and the file to remove.
    """

    def __init__(self, folder):
        self.folder = folder
        self.path = os.path.join(folder, ".lock")
        self.held = False

    def acquire(self, warn):
        """Take the lock or raise FolderLockedError; warn(line) reports a takeover."""
        os.makedirs(self.folder, exist_ok=True)
        me = {"pid": os.getpid(), "host": socket.gethostname()}
        for _ in range(3):  # a racing takeover may remove the file between our tries
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
            except FileExistsError:
                owner = self._owner()
                if owner is None:
                    continue  # removed meanwhile, or written half-way by a racing run: look again
                if owner.get("host") != me["host"]:
                    raise FolderLockedError(
                        f"{self.folder} is locked by pid {owner.get('pid')} on host {owner.get('host')}; "
                        f"if that run is gone, remove {self.path}") from None
                if _alive(int(owner.get("pid", -1))):
                    raise FolderLockedError(
                        f"{self.folder} is in use by a live run (pid {owner['pid']}); wait for it or use "
                        f"another checkpoint_dir", fields=("checkpoint_dir",)) from None
                warn(f"warning: taking over {self.path} from a run that is gone (pid {owner['pid']})")
                try:
                    os.remove(self.path)
                except FileNotFoundError:
                    pass
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
            self.held = True
            return
        raise FolderLockedError(f"{self.folder}: could not take {self.path} (unreadable); remove it if no run "
                                f"uses the folder")

    def _owner(self):
        try:
            with open(self.path) as f:
                return json.load(f)
        except (FileNotFoundError, ValueError):
            return None

    def release(self):
        if self.held:
            self.held = False
            try:
                os.remove(self.path)
            except FileNotFoundError:
                pass
