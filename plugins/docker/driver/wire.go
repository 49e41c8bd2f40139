// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package driver

// The types below mirror the JSON Docker sends and expects (moby
// daemon/libnetwork/drivers/remote/api and ipams/remote/api). Docker's
// structs carry no JSON tags, so the field names are the Go names.

// MediaType is the content type of every plugin answer.
const MediaType = "application/vnd.docker.plugins.v1.2+json"

// Docker option keys nori-docker reads.
const (
	optGeneric     = "com.docker.network.generic"
	optMTU         = "com.docker.network.driver.mtu"
	optPortMap     = "com.docker.network.portmap"
	optRequestType = "RequestAddressType"
	optGateway     = "com.docker.network.gateway"
)

// Address spaces the IPAM driver reports; only their names matter, and
// CreateNetwork uses them to tell a nori-IPAM network from one whose
// addresses come from Docker's own IPAM.
const (
	LocalAddressSpace  = "NoriLocal"
	GlobalAddressSpace = "NoriGlobal"
)

type errResponse struct {
	Err string
}

type activateResponse struct {
	Implements []string
}

type capabilitiesResponse struct {
	Scope             string
	ConnectivityScope string
}

type ipamData struct {
	AddressSpace string
	Pool         string
	Gateway      string
	AuxAddresses map[string]string
}

type createNetworkRequest struct {
	NetworkID string
	Options   map[string]any
	IPv4Data  []ipamData
	IPv6Data  []ipamData
}

type networkRequest struct {
	NetworkID string
}

type endpointInterface struct {
	Address     string `json:",omitempty"`
	AddressIPv6 string `json:",omitempty"`
	MacAddress  string `json:",omitempty"`
}

type createEndpointRequest struct {
	NetworkID  string
	EndpointID string
	Interface  *endpointInterface
	Options    map[string]any
}

type createEndpointResponse struct {
	Interface *endpointInterface `json:",omitempty"`
}

type endpointRequest struct {
	NetworkID  string
	EndpointID string
}

type endpointInfoResponse struct {
	Value map[string]any
}

type joinRequest struct {
	NetworkID  string
	EndpointID string
	SandboxKey string
	Options    map[string]any
}

type interfaceName struct {
	SrcName   string
	DstPrefix string
}

// Route types of a static route.
const (
	routeNextHop   = 0
	routeConnected = 1
)

type staticRoute struct {
	Destination string
	RouteType   int
	NextHop     string `json:",omitempty"`
}

type joinResponse struct {
	InterfaceName         *interfaceName
	Gateway               string        `json:",omitempty"`
	StaticRoutes          []staticRoute `json:",omitempty"`
	DisableGatewayService bool
}

type externalConnectivityRequest struct {
	NetworkID  string
	EndpointID string
	Options    map[string]any
}

// portBinding is Docker's types.PortBinding as it travels in the
// com.docker.network.portmap option.
type portBinding struct {
	Proto       uint8
	IP          string
	Port        uint16
	HostIP      string
	HostPort    uint16
	HostPortEnd uint16
}

type ipamCapabilitiesResponse struct {
	RequiresMACAddress    bool
	RequiresRequestReplay bool
}

type addressSpacesResponse struct {
	LocalDefaultAddressSpace  string
	GlobalDefaultAddressSpace string
}

type requestPoolRequest struct {
	AddressSpace string
	Pool         string
	SubPool      string
	Options      map[string]string
	V6           bool
}

type requestPoolResponse struct {
	PoolID string
	Pool   string
	Data   map[string]string
}

type releasePoolRequest struct {
	PoolID string
}

type requestAddressRequest struct {
	PoolID  string
	Address string
	Options map[string]string
}

type requestAddressResponse struct {
	Address string
	Data    map[string]string `json:",omitempty"`
}

type releaseAddressRequest struct {
	PoolID  string
	Address string
}
