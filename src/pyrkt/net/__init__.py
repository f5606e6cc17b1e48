"""Pod networking: host, none, and CNI networks (default, default-restricted, named), ports, DNS, hosts.

Layer: below `pod/`, above `image/`. `--net=host` pods import only `spec`,
`dns` and `hosts` from here (small, built-in imports only); the CNI modules
(`cni`, `config`, `netns`, `setup`, `proc`, `masq`, and the built-in networks' own
ptp: `ptp`, `netlink`, `ipam`, `veth`, `nft`) load only when a pod has a CNI
network, with built-in imports only as well.
"""
