package org.apache.zookeeper.server;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import java.io.IOException;
import java.lang.reflect.Field;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;
import javax.security.auth.login.AppConfigurationEntry;
import javax.security.auth.login.Configuration;
import javax.security.auth.login.LoginException;
import org.apache.zookeeper.Login;
import org.apache.zookeeper.Version;
import org.apache.zookeeper.common.ZKConfig;
import org.apache.zookeeper.data.Id;
import org.apache.zookeeper.server.auth.SaslServerCallbackHandler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import zookeeperk8s.Gate;
import zookeeperk8s.Internals;
import zookeeperk8s.Policy;
import zookeeperk8s.PolicySource;
import zookeeperk8s.ProbeCommand;
import zookeeperk8s.RequestFilter;
import zookeeperk8s.SessionsCommand;
import zookeeperk8s.Users;

/**
 * ZooKeeper's Netty connection factory with the zookeeper-k8s charm's policy enforced in it.
 * Named by `serverCnxnFactory=` in zoo.cfg; it must live in this package because
 * NettyServerCnxnFactory's constructor and its handler are package-private.
 *
 * <p>Why here: this is the one place that sees each client request with the session's
 * authenticated identities before ZooKeeper acts on it, on the member the client is connected
 * to, and the member forwards the (possibly rewritten) request to the leader, so what is
 * committed everywhere is what the policy allows. ZooKeeper offers no configuration that
 * rewrites or refuses an ACL at create time; the alternatives (an authentication provider, a
 * request processor) are either consulted only for some schemes or built by QuorumPeer with no
 * way in.
 */
public class IsolatingCnxnFactory extends NettyServerCnxnFactory {

    private static final Logger LOG = LoggerFactory.getLogger(IsolatingCnxnFactory.class);
    public static final String POLICY_PROPERTY = "zookeeperk8s.policy";

    private final Map<String, String> jaasUsers = new ConcurrentHashMap<>();
    private final PolicySource policy;
    private final Gate gate;

    public IsolatingCnxnFactory() {
        super();
        Internals.verify(); // refuse to start, loudly, on a ZooKeeper whose internals moved
        String path = System.getProperty(POLICY_PROPERTY);
        if (path == null || !path.startsWith("/") || path.indexOf('/', 1) < 0) {
            throw new IllegalStateException("-D" + POLICY_PROPERTY + " must name the policy znode "
                                            + "(such as /zookeeper-k8s/policy): without it nothing is enforced");
        }
        policy = new PolicySource(this::getZooKeeperServer, path);
        gate = new Gate(policy, jaasUsers, superIds(), path);
        channelHandler = new Isolating();
        SessionsCommand.register();
        ProbeCommand.register();
        LOG.info("zookeeper-k8s extension on ZooKeeper {}: policy {}, super {}",
                 Version.getFullVersion(), path, superIds());
    }

    /** The policy as this server holds it now (the admin command that counts sessions reads it). */
    public Supplier<Policy> policy() {
        return policy;
    }

    private static List<Id> superIds() {
        List<Id> ids = new ArrayList<>();
        ids.add(new Id("sasl", System.getProperty("zookeeper.superUser", "super")));
        String digest = System.getProperty("zookeeper.DigestAuthenticationProvider.superDigest");
        if (digest != null) {
            ids.add(new Id("digest", digest));
        }
        return ids;
    }

    /**
     * As ZooKeeper does it, but the old listening channel closed before the new one binds. A
     * reconfig that moves a member's client address on the same port (the charm moves plaintext
     * clients from 0.0.0.0:2181 to 127.0.0.1:2181 while TLS is on, and back) otherwise fails:
     * ZooKeeper binds the new address first (EADDRINUSE), then closes the old one, and nothing
     * listens until a restart. Established connections stay; only the listener moves.
     */
    @Override
    public synchronized void reconfigure(InetSocketAddress addr) {
        Field field;
        try {
            field = NettyServerCnxnFactory.class.getDeclaredField("parentChannel");
            field.setAccessible(true);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("NettyServerCnxnFactory.parentChannel: " + e, e);
        }
        // A bind can still fail while the port is being released: ZooKeeper then leaves
        // nothing listening, so try again a few times.
        for (int attempt = 1; attempt <= 5; attempt++) {
            Channel old = listener(field);
            if (old != null && old.isOpen()) {
                LOG.info("closing the listener on {} before binding {}", old.localAddress(), addr);
                old.close().syncUninterruptibly();
            }
            super.reconfigure(addr);
            Channel now = listener(field);
            if (now != null && now.isOpen()) {
                return;
            }
            LOG.warn("binding {} failed (attempt {}); trying again", addr, attempt);
            try {
                Thread.sleep(100L * attempt);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
        LOG.error("nothing listens for plaintext clients on {}: restart this server", addr);
    }

    private Channel listener(Field field) {
        try {
            return (Channel) field.get(this);
        } catch (IllegalAccessException e) {
            throw new IllegalStateException("NettyServerCnxnFactory.parentChannel: " + e, e);
        }
    }

    /** ZooKeeper's handler, which first puts the policy's filter in front of itself. */
    @ChannelHandler.Sharable
    class Isolating extends CnxnChannelHandler {
        @Override
        public void handlerAdded(ChannelHandlerContext ctx) {
            ctx.pipeline().addBefore(ctx.name(), "zookeeper-k8s", new RequestFilter(gate, Internals.CONNECTION));
        }
    }

    /**
     * As ZooKeeper does it, with one difference: the DIGEST-MD5 users are looked up in the
     * current policy too, so client users need no JAAS entry and no restart.
     */
    @Override
    protected void configureSaslLogin() throws IOException {
        super.configureSaslLogin();
        if (login == null) {
            return; // no JAAS Server section: ZooKeeper runs without SASL, so do we
        }
        String section = System.getProperty(ZooKeeperSaslServer.LOGIN_CONTEXT_NAME_KEY,
                                            ZooKeeperSaslServer.DEFAULT_LOGIN_CONTEXT_NAME);
        for (AppConfigurationEntry entry : Configuration.getConfiguration().getAppConfigurationEntry(section)) {
            entry.getOptions().forEach((key, value) -> {
                if (key.startsWith("user_")) {
                    jaasUsers.put(key.substring("user_".length()), String.valueOf(value));
                }
            });
        }
        Users users = new Users(jaasUsers, policy);
        try {
            Login replaced = new Login(section, () -> new SaslServerCallbackHandler(users), new ZKConfig());
            login.shutdown();
            login = replaced;
            login.startThreadIfNeeded();
        } catch (LoginException e) {
            throw new IOException("SASL login for the client port failed: " + e, e);
        }
    }
}
