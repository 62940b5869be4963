package etcdconn

import (
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"
)

// SnapshotDialOptions are the gRPC options of the clients that read snapshots
// (Dialer.SnapshotBuffers).
// etcd sends a snapshot in 32 KiB chunks, so each message is a few bytes
// over gRPC's 32 KiB buffer tier and is read into a buffer of its 1 MiB
// tier, which the pool clears on every Get: 1 MiB cleared for every 32 KiB
// received, a fifth of the CPU of a snapshot read (measured in
// BenchmarkBackupStreaming's profile). The options give the client a pool
// with a 64 KiB tier, for the transport's reads and, through a proto codec
// that is gRPC's own but for the pool, for assembling each message (gRPC's
// codec takes the process-wide default pool, which only an init function
// may replace). Clearing is then twice the bytes received instead of 32
// times. (grpc/mem and grpc/experimental are marked experimental; if they
// go, the defaults are the fallback.)
func SnapshotDialOptions() ([]grpc.DialOption, error) {
	pool, err := mem.NewBinaryTieredBufferPool(8, 12, 14, 15, 16, 20)
	if err != nil {
		return nil, fmt.Errorf("gRPC buffer pool: %w", err)
	}
	base := encoding.GetCodecV2("proto")
	if base == nil {
		return nil, fmt.Errorf("gRPC has no proto codec registered")
	}
	return []grpc.DialOption{
		experimental.WithBufferPool(pool),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(pooledProtoCodec{CodecV2: base, pool: pool})),
	}, nil
}

// pooledProtoCodec is gRPC's proto codec (marshalling, name) with messages
// assembled in buffers from pool.
type pooledProtoCodec struct {
	encoding.CodecV2
	pool mem.BufferPool
}

// Unmarshal is grpc/encoding/proto's, with c.pool for the default pool.
// proto.Unmarshal copies bytes fields out of the buffer, so freeing it
// afterwards is safe.
func (c pooledProtoCodec) Unmarshal(data mem.BufferSlice, v any) error {
	var m proto.Message
	switch v := v.(type) {
	case protoadapt.MessageV1:
		m = protoadapt.MessageV2Of(v)
	case protoadapt.MessageV2:
		m = v
	default:
		return c.CodecV2.Unmarshal(data, v)
	}
	buf := data.MaterializeToBuffer(c.pool)
	defer buf.Free()
	return proto.Unmarshal(buf.ReadOnlyData(), m)
}
