// libsystemd's sd-daemon API (sd_notify, sd_watchdog_enabled), from Debian's libsystemd-dev.
#include <systemd/sd-daemon.h>
