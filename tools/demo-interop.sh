#!/usr/bin/env bash
# Demo: routerd as a BGP route reflector with dynamic peers, and three leaves running
# BIRD, FRR and GoBGP, all in network namespaces on a private bridge (10.77.0.0/24).
# Each leaf announces two /32s from the documentation ranges; the demo prints what every
# leaf learned through routerd (prefix, next hop, ORIGINATOR_ID, CLUSTER_LIST) and
# routerd's peer table, then removes everything it created.
#
# Exit status: 0 only if every leaf learned every other leaf's /32s, reflected by routerd
# (ORIGINATOR_ID set to the announcing leaf, CLUSTER_LIST = routerd's cluster id).
#
# Usage (as root): tools/demo-interop.sh         Env: DEMO_TIMEOUT (seconds, default 60)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

bash tools/setup.sh

echo "== building routerd and routerd-tool"
cargo build --quiet --bin routerd --bin routerd-tool
target_dir=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
routerd=$target_dir/debug/routerd
tool=$target_dir/debug/routerd-tool

tag="dm$$"
work=$(mktemp -d "/tmp/routerd-demo.XXXXXX")
chmod 755 "$work"
namespaces=()
pids=()

cleanup() {
  set +e
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  for ns in "${namespaces[@]}"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null
  done
  rm -rf "/run/frr/$tag-l2"
  if [ "${DEMO_KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT INT TERM

# --- topology -----------------------------------------------------------------------
sw="$tag-sw"
ip netns add "$sw"; namespaces+=("$sw")
ip -n "$sw" link set lo up
ip -n "$sw" link add br0 type bridge stp_state 0 forward_delay 0
ip -n "$sw" link set br0 up
node() { # name last-octet
  local ns="$tag-$1"
  ip netns add "$ns"; namespaces+=("$ns")
  ip -n "$ns" link set lo up
  ip link add eth0 netns "$ns" type veth peer name "p-$1" netns "$sw"
  ip -n "$sw" link set "p-$1" master br0
  ip -n "$sw" link set "p-$1" up
  ip -n "$ns" addr add "10.77.0.$2/24" dev eth0
  ip -n "$ns" link set eth0 up
  mkdir -p "$work/$1"; chmod 755 "$work/$1"
}
node rr 1; node l1 11; node l2 12; node l3 13

# --- routerd route reflector ----------------------------------------------------------
cat > "$work/rr/routerd.toml" <<CONF
trusted_keys = ["d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"]

[node]
name = "demo-rr"
mode = "rr"
router_id = "10.77.0.1"
asn = 65000
board = "dev"

[bgp]
listen_addresses = ["10.77.0.1"]
kernel_table = 100

[[bgp.dynamic]]
prefix = "10.77.0.0/24"
max_peers = 16
template = { remote_as = 65000, rr_client = true }

[sam.rr]
listen_address = "10.77.0.1"
tunnel_address = "10.77.0.1"

[[sam.rr.policies]]
name = "demo"
tunnel_prefix = "10.77.0.0/24"
client_prefixes = ["198.51.100.0/24", "203.0.113.0/24"]
join_tokens = ["demo-join-token-000001"]
claim_ttl_secs = 3600
max_leaves = 16
CONF
ip netns exec "$tag-rr" "$routerd" run --config "$work/rr/routerd.toml" --api 127.0.0.1:7179 \
  > "$work/rr/routerd.log" 2>&1 &
pids+=($!)

# --- leaves ---------------------------------------------------------------------------
# BIRD leaf, 10.77.0.11
cat > "$work/l1/bird.conf" <<CONF
router id 10.77.0.11;
protocol device { scan time 10; }
protocol static st { ipv4; route 198.51.100.11/32 blackhole; route 203.0.113.11/32 blackhole; }
protocol bgp rrpeer {
  local 10.77.0.11 as 65000;
  neighbor 10.77.0.1 as 65000;
  direct;
  connect retry time 2;
  ipv4 { import all; export where source = RTS_STATIC; next hop self; gateway direct; };
}
CONF
ip netns exec "$tag-l1" bird -f -c "$work/l1/bird.conf" -s "$work/l1/bird.ctl" \
  -P "$work/l1/bird.pid" > "$work/l1/bird.log" 2>&1 &
pids+=($!)

# FRR leaf (bgpd alone, no zebra, no kernel routes), 10.77.0.12
cat > "$work/l2/bgpd.conf" <<CONF
frr defaults traditional
hostname demo-l2
router bgp 65000
 bgp router-id 10.77.0.12
 no bgp ebgp-requires-policy
 no bgp network import-check
 neighbor 10.77.0.1 remote-as internal
 neighbor 10.77.0.1 timers connect 2
 address-family ipv4 unicast
  network 198.51.100.12/32
  network 203.0.113.12/32
  neighbor 10.77.0.1 activate
 exit-address-family
CONF
chmod 644 "$work/l2/bgpd.conf"
mkdir -p "/run/frr/$tag-l2"; chown frr:frr /run/frr "/run/frr/$tag-l2"
ip netns exec "$tag-l2" /usr/lib/frr/bgpd -N "$tag-l2" -Z -n -f "$work/l2/bgpd.conf" \
  -i "/run/frr/$tag-l2/bgpd.pid" --log stdout > "$work/l2/bgpd.log" 2>&1 &
pids+=($!)

# GoBGP leaf, 10.77.0.13 (routes are added through its CLI once it answers)
cat > "$work/l3/gobgpd.toml" <<CONF
[global.config]
  as = 65000
  router-id = "10.77.0.13"
  local-address-list = ["10.77.0.13"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "10.77.0.1"
    peer-as = 65000
  [neighbors.timers.config]
    connect-retry = 2
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
CONF
ip netns exec "$tag-l3" gobgpd -f "$work/l3/gobgpd.toml" --log-level=warn > "$work/l3/gobgpd.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do ip netns exec "$tag-l3" gobgp global >/dev/null 2>&1 && break; sleep 0.2; done
for p in 198.51.100.13/32 203.0.113.13/32; do
  ip netns exec "$tag-l3" gobgp global rib add -a ipv4 "$p" nexthop 10.77.0.13
done

# --- what each leaf learned -----------------------------------------------------------
# Prints "prefix next_hop originator_id cluster_list" per BGP-learned route.
learned_bird() {
  birdc -s "$work/l1/bird.ctl" show route all 2>/dev/null | awk '
    /^[0-9].*\/[0-9]+ / { if (p != "" && bgp) print p, nh, orig, cl; p=$1; nh="-"; orig="-"; cl="-"; bgp=0; next }
    /BGP.next_hop:/ { nh=$2; bgp=1 }
    /BGP.originator_id:/ { orig=$2 }
    /BGP.cluster_list:/ { $1=""; sub(/^ /, ""); gsub(/ /, ","); cl=$0 }
    END { if (p != "" && bgp) print p, nh, orig, cl }'
}
learned_frr() {
  vtysh -N "$tag-l2" -c 'show bgp ipv4 unicast json detail' 2>/dev/null | jq -r '
    .routes // {} | to_entries[] | .key as $p | .value[]
    | select(.bestpath.overall == true and (.sourced // false) == false)
    | [$p, (.nexthops[0].ip // "-"), (.originatorId // "-"),
       ((.clusterList.list // []) | if length == 0 then "-" else join(",") end)] | join(" ")'
}
learned_gobgp() {
  ip netns exec "$tag-l3" gobgp global rib -a ipv4 -j 2>/dev/null | jq -r '
    to_entries[] | .key as $p | .value[] | select(.best == true and has("neighbor-ip"))
    | (.attrs | map({(.type | tostring): .}) | add) as $a
    | [$p, ($a["3"].nexthop // "-"), ($a["9"].value // "-"),
       (($a["10"].value // []) | if length == 0 then "-" else join(",") end)] | join(" ")'
}
# expected: every other leaf's two /32s, originator = that leaf, cluster list = 10.77.0.1
expected_for() { # own last octet
  for o in 11 12 13; do
    [ "$o" = "$1" ] && continue
    echo "198.51.100.$o/32 10.77.0.$o 10.77.0.$o 10.77.0.1"
    echo "203.0.113.$o/32 10.77.0.$o 10.77.0.$o 10.77.0.1"
  done | sort
}
complete() { # name octet
  [ "$("learned_$1" | sort)" = "$(expected_for "$2")" ]
}

timeout=${DEMO_TIMEOUT:-60}
echo "== waiting up to ${timeout}s for every leaf to learn the others' routes"
start=$SECONDS
until complete bird 11 && complete frr 12 && complete gobgp 13; do
  if [ $((SECONDS - start)) -ge "$timeout" ]; then break; fi
  sleep 0.5
done
elapsed=$((SECONDS - start))

echo
echo "== routerd (route reflector 10.77.0.1): peers"
ip netns exec "$tag-rr" "$tool" peers --router http://127.0.0.1:7179 || true
echo
echo "== what each leaf learned through routerd"
printf '%-19s %-18s %-12s %-14s %-12s %s\n' LEAF PREFIX NEXT-HOP ORIGINATOR CLUSTER-LIST CHECK
status=0
for leaf in "bird 11" "frr 12" "gobgp 13"; do
  set -- $leaf
  got=$("learned_$1" | sort)
  want=$(expected_for "$2")
  while read -r prefix nh orig cl; do
    [ -z "$prefix" ] && continue
    if grep -qxF "$prefix $nh $orig $cl" <<<"$want"; then mark=ok; else mark=unexpected; fi
    printf '%-19s %-18s %-12s %-14s %-12s %s\n' "$1 (10.77.0.$2)" "$prefix" "$nh" "$orig" "$cl" "$mark"
  done <<<"$got"
  while read -r line; do
    [ -z "$line" ] && continue
    if ! grep -qxF "$line" <<<"$got"; then
      printf '%-19s %-18s %s\n' "$1 (10.77.0.$2)" "${line%% *}" "MISSING"
    fi
  done <<<"$want"
  [ "$got" = "$want" ] || status=1
done
echo
if [ $status = 0 ]; then
  echo "PASS: every leaf learned every other leaf's /32s through routerd (${elapsed}s)"
else
  echo "FAIL: some routes are missing or unexpected; logs:"
  for f in "$work"/*/*.log; do echo "--- $f"; tail -n 15 "$f"; done
fi
exit $status
