// libmosquitto (Debian libmosquitto-dev), the MQTT client of `segstream serve` (docs/mqtt.md).
#include <mosquitto.h>
