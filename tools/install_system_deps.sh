#!/bin/sh
# open3d's wheel links against libusb-1.0, which minimal Debian images lack.
set -e
if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
echo "installing libusb-1.0-0 (needed by open3d)"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libusb-1.0-0
