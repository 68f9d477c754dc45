package zookeeperk8s;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.util.AttributeKey;
import java.util.List;
import org.apache.jute.BinaryInputArchive;
import org.apache.zookeeper.ZooDefs.OpCode;
import org.apache.zookeeper.data.Id;
import org.apache.zookeeper.server.ServerCnxn;
import org.apache.zookeeper.server.command.FourLetterCommands;

/**
 * Sits in each client connection's Netty pipeline just before ZooKeeper's own handler (after
 * TLS, so it reads plaintext either way) and hands ZooKeeper one request at a time, each as
 * {@link Gate} decided.
 *
 * <p>Reads arrive as arbitrary slices of the stream; requests are framed by their 4-byte length.
 * The first frame is the ConnectRequest (no header) and passes as it is; a connection that
 * opens with a four-letter word, or announces a frame larger than ZooKeeper accepts, is passed
 * through untouched for ZooKeeper to answer or close. Frames go on one by one, so an auth or
 * SASL request is applied by ZooKeeper before the next request is judged.
 */
public final class RequestFilter extends ChannelInboundHandlerAdapter {

    private final Gate gate;
    private final AttributeKey<? extends ServerCnxn> connection;
    private ByteBuf pending;
    private boolean connected;
    private boolean passthrough;

    public RequestFilter(Gate gate, AttributeKey<? extends ServerCnxn> connection) {
        this.gate = gate;
        this.connection = connection;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
        if (passthrough || !(msg instanceof ByteBuf)) {
            ctx.fireChannelRead(msg);
            return;
        }
        ByteBuf in = (ByteBuf) msg;
        if (pending == null) {
            pending = ctx.alloc().buffer(in.readableBytes());
        }
        try {
            pending.writeBytes(in);
        } finally {
            in.release();
        }
        while (pending != null && pending.readableBytes() >= 4) {
            int start = pending.readerIndex();
            int length = pending.getInt(start);
            if (!connected && FourLetterCommands.isKnown(length) || length < 0 || length > BinaryInputArchive.maxBuffer) {
                passthrough = true;
                ByteBuf rest = pending;
                pending = null;
                ctx.fireChannelRead(rest);
                return;
            }
            if (pending.readableBytes() < 4 + length) {
                break;
            }
            ByteBuf next = connected ? judged(ctx, start, length) : null;
            if (next == null) {
                // A copy, never a slice: ZooKeeper keeps what it cannot process yet (a
                // throttled connection) while this buffer is compacted under it.
                next = pending.copy(start, 4 + length);
            }
            pending.readerIndex(start + 4 + length);
            connected = true;
            ctx.fireChannelRead(next);
        }
        if (pending != null && !pending.isReadable()) {
            pending.release();
            pending = null;
        } else if (pending != null) {
            pending.discardSomeReadBytes();
        }
    }

    /** The request at `start`, rewritten; null to pass it as it is. */
    private ByteBuf judged(ChannelHandlerContext ctx, int start, int length) throws Exception {
        if (length < 8 || passes(pending.getInt(start + 8))) {
            return null;
        }
        ServerCnxn cnxn = ctx.channel().attr(connection).get();
        if (cnxn == null) {
            return null; // closing: ZooKeeper's handler drops whatever still arrives
        }
        List<Id> ids = cnxn.getAuthInfo();
        byte[] frame = new byte[length];
        pending.getBytes(start + 4, frame);
        byte[] rewritten = gate.filter(ids, frame);
        if (rewritten == null) {
            return null;
        }
        ByteBuf out = ctx.alloc().buffer(4 + rewritten.length);
        out.writeInt(rewritten.length);
        out.writeBytes(rewritten);
        return out;
    }

    private static boolean passes(int type) {
        switch (type) {
            case OpCode.ping:
            case OpCode.auth:
            case OpCode.sasl:
            case OpCode.closeSession:
            case OpCode.whoAmI:
                return true;
            default:
                return false;
        }
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        if (pending != null) {
            pending.release();
            pending = null;
        }
    }
}
