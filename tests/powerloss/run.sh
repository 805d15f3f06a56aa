#!/usr/bin/env bash
# Power-loss test: run every workload in a QEMU guest (TCG) on ext4 over
# dm-log-writes, then replay each workload's block write log at every FLUSH,
# FUA and mark after mkfs, and check the history there (see
# tests/powerloss/src/lib.rs and the README's "Power-loss test" section).
#
#   tests/powerloss/run.sh            bounded mode (CI): scale 1, a few hundred points
#   tests/powerloss/run.sh --long     long mode: scale 8 (ten times the points)
#   options: --scale N   --workloads a,b,c   --jobs N   --keep (keep images)
#
# Exit status 0 only if every workload ran, every point of every workload
# that must pass passed, and each control run (the original module's
# algorithm; Durability::None) failed at least one point because
# acknowledged records were missing there (plcheck prints each failed
# point's reason; a control failing only for another reason is a FAIL).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

scale=1
mode=bounded
only=""
jobs="$(nproc)"
keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --long) scale=8; mode=long ;;
    --scale) scale="$2"; mode="scale $2"; shift ;;
    --workloads) only="$2"; shift ;;
    --jobs) jobs="$2"; shift ;;
    --keep) keep=1 ;;
    *) echo "usage: $0 [--long] [--scale N] [--workloads a,b] [--jobs N] [--keep]" >&2; exit 2 ;;
  esac
  shift
done

t0=$(date +%s)
elapsed() { echo $(($(date +%s) - t0)); }
say() { printf 'powerloss [%4ss] %s\n' "$(elapsed)" "$*"; }

cache="$root/target/powerloss/cache"
release="$(PL_CACHE="$cache" "$here/setup.sh")"
say "set-up done (kernel $release)"

musl=x86_64-unknown-linux-musl
cargo build -q --locked -p iteration-history-powerloss --bin plcheck --bin plwriter
cargo build -q --locked -p iteration-history-powerloss --bin plwriter --release --target "$musl"
writer="$root/target/$musl/release/plwriter"
plcheck="$root/target/debug/plcheck"
say "built the static writer and the checker"

run="$root/target/powerloss/run"
rm -rf "$run"
mkdir -p "$run"
"$here/build-initramfs.sh" "$run/initramfs.cpio.gz" "$writer" "$cache"
say "built the initramfs ($(du -k "$run/initramfs.cpio.gz" | cut -f1) KiB)"

# Workloads: name, expected outcome (pass|fail), description.
mapfile -t table < <("$root/target/debug/plwriter" list)
names=()
declare -A expect
for line in "${table[@]}"; do
  read -r name outcome _ <<<"$line"
  if [ -n "$only" ] && [[ ",$only," != *",$name,"* ]]; then continue; fi
  names+=("$name")
  expect[$name]="$outcome"
done
[ "${#names[@]}" -gt 0 ] || { echo "no workload selected" >&2; exit 2; }

data_size=$((64 << 20))
drives=()
for name in "${names[@]}"; do
  truncate -s "$data_size" "$run/data-$name.img"
  truncate -s 1G "$run/log-$name.img"
  drives+=(-drive "file=$run/data-$name.img,if=none,format=raw,id=d-$name"
    -device "virtio-blk-pci,drive=d-$name,serial=data-$name"
    -drive "file=$run/log-$name.img,if=none,format=raw,id=l-$name"
    -device "virtio-blk-pci,drive=l-$name,serial=log-$name")
done
workloads_csv="$(IFS=,; echo "${names[*]}")"

say "booting the guest (QEMU TCG): workloads $workloads_csv, scale $scale"
timeout=$((600 * scale))
set +e
timeout "$timeout" qemu-system-x86_64 -accel tcg -cpu max -m 512 -smp 2 -nographic -no-reboot -net none \
  -kernel "$cache/vmlinuz" -initrd "$run/initramfs.cpio.gz" \
  -append "console=ttyS0 panic=-1 quiet PL_WORKLOADS=$workloads_csv PL_SCALE=$scale" \
  "${drives[@]}" </dev/null >"$run/console.txt" 2>&1
qemu_status=$?
set -e
grep -aoE '(PL[-:]|plwriter:).*' "$run/console.txt" | tr -d '\r' | sed 's/^/    guest: /' || true
if [ "$qemu_status" -ne 0 ] || ! grep -aq 'PL-DONE' "$run/console.txt"; then
  echo "powerloss: the guest did not finish (status $qemu_status); last console lines:" >&2
  tail -n 40 "$run/console.txt" >&2
  exit 1
fi
say "guest finished"

failures=0
summary=()
counts=()
for name in "${names[@]}"; do
  result="$(grep -ao "PL-RESULT $name .*" "$run/console.txt" | tr -d '\r' || true)"
  if [[ "$result" != "PL-RESULT $name ok"* ]]; then
    echo "powerloss: workload $name did not run cleanly in the guest: ${result:-no result}" >&2
    failures=$((failures + 1))
    summary+=("$(printf '%-8s %s' "$name" "GUEST RUN FAILED")")
    continue
  fi
  set +e
  out="$("$plcheck" --log "$run/log-$name.img" --size "$data_size" --work "$run/work-$name" \
    --jobs "$jobs" --expect "${expect[$name]}")"
  status=$?
  set -e
  echo "$out" | grep -v '^PLCHECK-SUMMARY' | sed 's/^/    /'
  line="$(echo "$out" | grep '^PLCHECK-SUMMARY' || true)"
  points="$(sed -n 's/.* points=\([0-9]*\).*/\1/p' <<<"$line")"
  failed="$(sed -n 's/.* failed=\([0-9]*\).*/\1/p' <<<"$line")"
  lost="$(sed -n 's/.* lost=\([0-9]*\).*/\1/p' <<<"$line")"
  ops="$(sed -n 's/.* ops=\([0-9]*\).*/\1/p' <<<"$line")"
  if [ "$status" -ne 0 ]; then
    failures=$((failures + 1))
    verdict="FAIL"
  elif [ "${expect[$name]}" = fail ]; then
    verdict="failed as expected: acknowledged records lost at ${lost:-?} points"
  else
    verdict="pass"
  fi
  summary+=("$(printf '%-8s %4s ops %5s points %5s failed %5s lost records   %s' "$name" "${ops:-?}" "${points:-?}" "${failed:-?}" "${lost:-?}" "$verdict")")
  counts+=("ops[$name] ${ops:-?}" "points[$name] ${points:-?}")
  rm -rf "$run/work-$name"
done

echo
echo "Power-loss test ($mode, ext4, kernel $release), $(elapsed) s:"
printf '  %s\n' "${summary[@]}"
# The counts for scripts/check-counts (operations per workload are fixed;
# the points vary by a few between runs and are quoted as one run's).
if [ -n "${IH_TEST_COUNTS:-}" ] && [ "$mode" = bounded ]; then
  mkdir -p "$IH_TEST_COUNTS"
  printf '%s\n' "${counts[@]}" >"$IH_TEST_COUNTS/powerloss.txt"
fi
if [ "$keep" = 0 ]; then
  rm -f "$run"/*.img
fi
if [ "$failures" -ne 0 ]; then
  echo "powerloss: $failures workload(s) did not give the expected outcome" >&2
  exit 1
fi
echo "powerloss: all workloads passed at every point; each control lost acknowledged records at some points, as expected"
