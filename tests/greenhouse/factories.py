import factory

from apps.greenhouse.models import GreenhouseIntegration, GreenhouseUserMapping
from tests.teams.factories import TeamFactory, UserFactory

FACTORY_CLIENT_SECRET = "factory-secret-Zx81Yw64Vu27"


class GreenhouseIntegrationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GreenhouseIntegration
        skip_postgeneration_save = True

    team = factory.SubFactory(TeamFactory)
    client_id = factory.Sequence(lambda n: f"client-{n}")
    api_base_url = "https://harvest.greenhouse.io"
    token_url = "https://auth.greenhouse.io/token"

    @factory.post_generation
    def client_secret(obj, create, extracted, **kwargs):
        obj.set_client_secret(FACTORY_CLIENT_SECRET if extracted is None else extracted)
        if create:
            obj.save(update_fields=["client_secret_encrypted"])


class GreenhouseUserMappingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GreenhouseUserMapping

    integration = factory.SubFactory(GreenhouseIntegrationFactory)
    user = factory.SubFactory(UserFactory)
    greenhouse_user_id = factory.Sequence(lambda n: 5000 + n)
