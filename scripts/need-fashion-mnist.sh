#!/bin/sh
# Make sure Fashion-MNIST is installed (Debian package dataset-fashion-mnist): installs it when
# run as root, otherwise prints the one command that does. DEEPC_DATA/fashion-mnist also counts.
dir=/usr/share/datasets/fashion-mnist
[ -n "${DEEPC_DATA:-}" ] && [ -f "$DEEPC_DATA/fashion-mnist/t10k-labels-idx1-ubyte.gz" ] && exit 0
[ -f "$dir/t10k-labels-idx1-ubyte.gz" ] && exit 0
if [ "$(id -u)" = 0 ]; then
    echo "installing Fashion-MNIST (dataset-fashion-mnist) ..."
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null ||
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; }
    [ -f "$dir/t10k-labels-idx1-ubyte.gz" ] && exit 0
fi
echo "Fashion-MNIST is not installed. Install it with:" >&2
echo "    sudo apt-get install dataset-fashion-mnist" >&2
exit 1
