package kubelet

import (
	"context"
	"crypto/tls"
	"errors"
	"io"

	"golang.org/x/net/websocket"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/reflection"
	pb "sigs.k8s.io/gateway-api/conformance/echo-basic/grpcechoserver"
)

// grpcEchoService is the full name of echo-basic's gRPC service.
var grpcEchoService = string(pb.File_grpcecho_proto.Services().ByName("GrpcEcho").FullName())

// echoBasicGRPC is echo-basic's gRPC mode: the GrpcEcho service (with
// server reflection) on HTTP_PORT, and over TLS on HTTPS_PORT.
func echoBasicGRPC(c container, ctx echoBasicContext) ([]endpoint, error) {
	port, err := envPort(c.Env, "HTTP_PORT", 3000)
	if err != nil {
		return nil, err
	}
	tlsPort, err := envPort(c.Env, "HTTPS_PORT", 8443)
	if err != nil {
		return nil, err
	}
	tlsCfg, err := tlsFiles(c, "TLS_SERVER_CERT", "TLS_SERVER_PRIV_KEY")
	if err != nil {
		return nil, err
	}
	pctx := &pb.Context{Namespace: ctx.Namespace, Ingress: ctx.Ingress, ServiceName: ctx.Service, Pod: ctx.Pod}
	register := func(withTLS bool) func(*grpc.Server) {
		return func(s *grpc.Server) {
			pb.RegisterGrpcEchoServer(s, &grpcEcho{tls: withTLS, ctx: pctx})
			reflection.Register(s)
		}
	}
	eps := []endpoint{{Port: port, Kind: kindGRPC, GRPC: register(false)}}
	if tlsCfg != nil {
		eps = append(eps, endpoint{Port: tlsPort, Kind: kindGRPC, GRPC: register(true), TLS: tlsCfg})
	}
	return eps, nil
}

// grpcEcho answers Echo and EchoTwo with the request's metadata; EchoThree
// is unimplemented, as in the image.
type grpcEcho struct {
	pb.UnimplementedGrpcEchoServer
	tls bool
	ctx *pb.Context
}

func (s *grpcEcho) Echo(ctx context.Context, _ *pb.EchoRequest) (*pb.EchoResponse, error) {
	return s.answer(ctx, "Echo")
}

func (s *grpcEcho) EchoTwo(ctx context.Context, _ *pb.EchoRequest) (*pb.EchoResponse, error) {
	return s.answer(ctx, "EchoTwo")
}

func (s *grpcEcho) answer(ctx context.Context, method string) (*pb.EchoResponse, error) {
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return nil, errors.New("failed to retrieve metadata from incoming request")
	}
	a := &pb.Assertions{FullyQualifiedMethod: "/" + grpcEchoService + "/" + method, Context: s.ctx}
	for k, vs := range md {
		for _, v := range vs {
			if k == ":authority" {
				a.Authority = v
			}
			a.Headers = append(a.Headers, &pb.Header{Key: k, Value: v})
		}
	}
	if s.tls {
		p, ok := peer.FromContext(ctx)
		if !ok {
			return nil, errors.New("failed to retrieve auth info from request")
		}
		info, ok := p.AuthInfo.(credentials.TLSInfo)
		if !ok {
			return nil, errors.New("failed to retrieve TLS info from request")
		}
		st := &info.State
		a.TlsAssertions = &pb.TLSAssertions{
			Version:            tlsVersionName(st.Version),
			NegotiatedProtocol: st.NegotiatedProtocol,
			ServerName:         st.ServerName,
			CipherSuite:        tls.CipherSuiteName(st.CipherSuite),
			PeerCertificates:   peerCertificatesPEM(st),
		}
	}
	return &pb.EchoResponse{Assertions: a}, nil
}

// echoWebSocket echoes the frames of a WebSocket connection (/ws).
func echoWebSocket() websocket.Handler {
	return func(ws *websocket.Conn) { io.Copy(ws, ws) }
}
