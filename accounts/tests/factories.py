import factory

from accounts.models import User
from accounts.roles import Role
from accounts.services import user_set_roles

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    display_name = factory.Faker("name")
    password = factory.django.Password(PASSWORD)

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        if create:
            user_set_roles(user=self, roles=extracted if extracted is not None else [Role.CUSTOMER])


def customer(**kwargs):
    return UserFactory(roles=[Role.CUSTOMER], **kwargs)


def analyst(**kwargs):
    return UserFactory(roles=[Role.ANALYST], **kwargs)


def model_manager(**kwargs):
    return UserFactory(roles=[Role.MODEL_MANAGER], **kwargs)


def integrator(**kwargs):
    return UserFactory(roles=[Role.INTEGRATOR], **kwargs)
