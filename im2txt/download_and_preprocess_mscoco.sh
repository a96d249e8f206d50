#!/usr/bin/env bash
# Download MSCOCO 2014 (images and captions) into DATA_DIR and convert it into
# Show and Tell's sharded TFRecords plus word_counts.txt (DATA_DIR/output).
#
# Usage: download_and_preprocess_mscoco.sh DATA_DIR
#
# Archives already in DATA_DIR/raw-data are not downloaded again, and archives
# already unzipped are not unzipped again, so an interrupted run can be resumed.
# Needs curl (or wget), unzip and python3 with this project's requirements
# (set PYTHON to choose the interpreter).
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "Usage: $0 DATA_DIR" >&2
  exit 2
fi

DATA_DIR="$1"
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON="${PYTHON:-python3}"
RAW_DIR="${DATA_DIR}/raw-data"
OUTPUT_DIR="${DATA_DIR}/output"
BASE_URL="http://images.cocodataset.org"

mkdir -p "${RAW_DIR}" "${OUTPUT_DIR}"

download() {  # URL -> RAW_DIR/basename; via a .part file, so a cut-off download never counts.
  local url="$1"
  local target
  target="${RAW_DIR}/$(basename "${url}")"
  if [[ -s "${target}" ]]; then
    echo "Skipping download of ${url}: ${target} exists"
    return
  fi
  echo "Downloading ${url} to ${target}"
  if command -v curl >/dev/null 2>&1; then
    curl --fail --location --retry 3 --output "${target}.part" "${url}"
  else
    wget --tries=3 --output-document="${target}.part" "${url}"
  fi
  mv "${target}.part" "${target}"
}

unpack() {  # ZIP: unzip into RAW_DIR once; a marker records a completed unzip.
  local archive="${RAW_DIR}/$1"
  local marker="${RAW_DIR}/.$1.unzipped"
  if [[ -e "${marker}" ]]; then
    echo "Skipping unzip of ${archive}: already unzipped"
    return
  fi
  echo "Unzipping ${archive}"
  unzip -q -o "${archive}" -d "${RAW_DIR}"
  touch "${marker}"
}

download "${BASE_URL}/zips/train2014.zip"
download "${BASE_URL}/zips/val2014.zip"
download "${BASE_URL}/annotations/annotations_trainval2014.zip"

unpack train2014.zip
unpack val2014.zip
unpack annotations_trainval2014.zip

"${PYTHON}" "${SCRIPT_DIR}/build_mscoco_data.py" \
  --train_image_dir="${RAW_DIR}/train2014" \
  --val_image_dir="${RAW_DIR}/val2014" \
  --train_captions_file="${RAW_DIR}/annotations/captions_train2014.json" \
  --val_captions_file="${RAW_DIR}/annotations/captions_val2014.json" \
  --output_dir="${OUTPUT_DIR}" \
  --word_counts_output_file="${OUTPUT_DIR}/word_counts.txt"
