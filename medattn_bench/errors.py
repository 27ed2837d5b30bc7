"""Domain errors. The CLI turns every ``MedattnError`` into one readable line and exit code 2."""


class MedattnError(Exception):
    """Base class of every error a user can cause (bad suite, data, plugin or argument)."""


class SuiteError(MedattnError):
    """A suite file is missing, malformed or invalid."""


class UnknownNameError(MedattnError, KeyError):
    """A registry was asked for a name it does not hold."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class DataError(MedattnError):
    """A data set is missing, has the wrong layout, or holds unusable images."""


class PluginError(MedattnError):
    """A plugin could not be imported, collides with another name, or breaks the block contract."""


class RecordError(MedattnError):
    """A run record is unreadable or inconsistent with the others it is compared with."""


class StatsError(MedattnError, ValueError):
    """Statistics were asked of inputs on which they are undefined (one class, NaN, mismatch)."""


class DivergedError(MedattnError):
    """Training produced a non-finite loss; the run is recorded as failed and the suite goes on."""
