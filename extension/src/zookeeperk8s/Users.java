package zookeeperk8s;

import java.util.AbstractMap;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;

/**
 * The SASL users ZooKeeper's own DIGEST-MD5 callback handler looks passwords up in: those of
 * the JAAS `Server` section (the charm's super user) and those the policy lists now. The
 * handler only calls get() and containsKey(), both answered from the current policy, so a user
 * the charm adds can log in as soon as this server has applied the write, and a removed one
 * cannot.
 */
public final class Users extends AbstractMap<String, String> {

    private final Map<String, String> jaas;
    private final Supplier<Policy> policy;

    public Users(Map<String, String> jaas, Supplier<Policy> policy) {
        this.jaas = jaas;
        this.policy = policy;
    }

    @Override
    public String get(Object name) {
        String password = jaas.get(name);
        return password != null ? password : policy.get().users.get(name);
    }

    @Override
    public boolean containsKey(Object name) {
        return get(name) != null;
    }

    @Override
    public Set<Entry<String, String>> entrySet() {
        Map<String, String> all = new HashMap<>(policy.get().users);
        all.putAll(jaas);
        return all.entrySet();
    }
}
